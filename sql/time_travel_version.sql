-- Time travel by version: the customer summary as the first Gold build wrote it.
-- (Locally this reads version 0; on Athena publish it first: lakehouse snapshot ... --version 0)
SELECT count(*) AS customers,
       sum(txn_count) AS transactions,
       sum(total_spend) AS spend
FROM gold.customer_summary FOR VERSION AS OF 0
