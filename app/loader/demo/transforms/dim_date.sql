-- The calendar, 1970–2054: one row per day with ISO weeks, fiscal years from 1 July (FY2027 =
-- July 2026 … June 2027) and the fixed-date holidays most of the demo's countries share
-- (moveable feasts are left out on purpose: a team with its own calendar replaces this file).
WITH days AS (
    SELECT CAST(d AS DATE) AS date
    FROM generate_series(DATE '1970-01-01', DATE '2054-12-31', INTERVAL 1 DAY) AS t(d)
)
SELECT
    CAST(strftime(date, '%Y%m%d') AS INTEGER)              AS date_key,
    date,
    CAST(year(date) AS INTEGER)                            AS year,
    CAST(quarter(date) AS INTEGER)                         AS quarter,
    CAST(month(date) AS INTEGER)                           AS month,
    strftime(date, '%B')                                   AS month_name,
    CAST(isodow(date) AS INTEGER)                          AS day_of_week,
    strftime(date, '%A')                                   AS day_name,
    CAST(weekofyear(date) AS INTEGER)                      AS iso_week,
    CAST(isoyear(date) AS INTEGER)                         AS iso_year,
    isodow(date) >= 6                                      AS is_weekend,
    strftime(date, '%m-%d') IN ('01-01', '05-01', '12-24', '12-25', '12-26', '12-31')
                                                           AS is_holiday,
    CAST(date_trunc('month', date) AS DATE)                AS month_start,
    CAST(date_trunc('quarter', date) AS DATE)              AS quarter_start,
    CAST(date_trunc('week', date) AS DATE)                 AS week_start,
    CAST(year(date) + CASE WHEN month(date) >= 7 THEN 1 ELSE 0 END AS INTEGER)
                                                           AS fiscal_year,
    CAST(((month(date) - 7 + 12) % 12) // 3 + 1 AS INTEGER) AS fiscal_quarter
FROM days
ORDER BY date
