-- Fraud rate per merchant category and day (UTC), busiest fraud days first.
-- Parameters: :min_transactions (ignore thin days)
SELECT trans_date,
       category,
       sum(txn_count) AS transactions,
       sum(fraud_count) AS fraud_transactions,
       round(CAST(sum(fraud_count) AS double) / sum(txn_count), 4) AS fraud_rate,
       sum(fraud_amount) AS fraud_amount
FROM gold.fraud_daily
GROUP BY trans_date, category
HAVING sum(txn_count) >= :min_transactions
ORDER BY fraud_rate DESC, fraud_amount DESC, trans_date, category
