SELECT CAST(row_number() OVER (ORDER BY k.campaign_id) AS INTEGER) AS campaign_key,
       k.campaign_id, k.name, coalesce(c.channel_key, -1) AS channel_key, k.objective, k.start_date, k.end_date
FROM campaigns k LEFT JOIN dim_channel c ON c.channel = k.channel
