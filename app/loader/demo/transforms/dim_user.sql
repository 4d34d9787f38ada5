-- user_key is the natural user_id: a key that does not move when new users arrive, so the
-- incremental fact keeps the keys it stored.
SELECT u.user_id AS user_key,
       u.user_id, u.signup_date, u.country, u.region, u.device,
       coalesce(c.channel_key, -1) AS acquisition_channel_key,
       u.segment, u.age_band, u.email, u.is_internal
FROM users u LEFT JOIN dim_channel c ON c.channel = u.acquisition_channel
