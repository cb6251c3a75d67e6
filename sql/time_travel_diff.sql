-- What changed in the customer summary since version 0: customers added, removed or whose spend
-- moved. FOR VERSION AS OF takes only a literal: edit the version to compare another one.
WITH before AS (SELECT customer_key, total_spend FROM gold.customer_summary FOR VERSION AS OF 0),
     after AS (SELECT customer_key, total_spend FROM gold.customer_summary)
SELECT coalesce(a.customer_key, b.customer_key) AS customer_key,
       CASE WHEN b.customer_key IS NULL THEN 'added'
            WHEN a.customer_key IS NULL THEN 'removed'
            ELSE 'changed' END AS change,
       b.total_spend AS spend_before,
       a.total_spend AS spend_after
FROM after AS a
FULL OUTER JOIN before AS b ON a.customer_key = b.customer_key
WHERE a.customer_key IS NULL OR b.customer_key IS NULL OR a.total_spend <> b.total_spend
ORDER BY change, customer_key
