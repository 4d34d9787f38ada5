-- One row per interaction, stored in time order (`ordered: true` in pipeline.yaml) so
-- date-range scans skip row groups. interaction_key is the source's event_id and user_key the
-- user_id: keys that stay put across incremental refreshes. A code with no dimension row gets
-- the key -1, so the model's relationship checks count it as an orphan (a NULL would hide it).
SELECT i.event_id AS interaction_key,
       i.occurred_at,
       CAST(strftime(i.occurred_at, '%Y%m%d') AS INTEGER) AS date_key,
       i.user_id AS user_key,
       CASE WHEN i.sku IS NOT NULL THEN coalesce(p.product_key, -1) END AS product_key,
       coalesce(c.channel_key, -1) AS channel_key,
       CASE WHEN i.campaign_id IS NOT NULL THEN coalesce(k.campaign_key, -1) END AS campaign_key,
       i.session_id, i.order_id, i.interaction_type, i.device, i.quantity, i.revenue
FROM interactions i
LEFT JOIN dim_product p ON p.sku = i.sku
LEFT JOIN dim_channel c ON c.channel = i.channel
LEFT JOIN dim_campaign k ON k.campaign_id = i.campaign_id
ORDER BY i.occurred_at, i.event_id
