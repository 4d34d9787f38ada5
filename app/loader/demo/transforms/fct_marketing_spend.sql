-- Daily spend per campaign; a code with no dimension row gets the key -1 (an orphan the
-- model's relationship checks count).
SELECT CAST(strftime(s.date, '%Y%m%d') AS INTEGER) AS date_key,
       coalesce(c.channel_key, -1) AS channel_key,
       coalesce(k.campaign_key, -1) AS campaign_key,
       s.spend, s.impressions, s.clicks
FROM marketing_spend s
LEFT JOIN dim_channel c ON c.channel = s.channel
LEFT JOIN dim_campaign k ON k.campaign_id = s.campaign_id
ORDER BY s.date, k.campaign_key
