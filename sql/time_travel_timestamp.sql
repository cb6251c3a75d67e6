-- Time travel by time: Silver transactions as they stood at a moment.
-- Parameters: none; edit the timestamp (UTC) or use `lakehouse query --as-of` on any report.
SELECT count(*) AS transactions,
       sum(amount) AS spend,
       max(trans_ts) AS latest_transaction
FROM silver.transactions FOR TIMESTAMP AS OF TIMESTAMP '2099-01-01 00:00:00 UTC'
