-- Card spend per calendar month (UTC) and merchant category, with each category's share.
SELECT date_format(month, '%Y-%m') AS month,
       category,
       sum(txn_count) AS transactions,
       sum(spend) AS spend,
       round(sum(spend) * 100.0 / sum(sum(spend)) OVER (PARTITION BY month), 2) AS share_pct
FROM gold.customer_monthly_spend
GROUP BY month, category
ORDER BY month, spend DESC, category
