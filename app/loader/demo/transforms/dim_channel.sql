SELECT CAST(row_number() OVER (ORDER BY channel) AS INTEGER) AS channel_key,
       channel, channel_group, is_paid
FROM channels
