-- Top customers by total card spend, with their segment and fraud exposure.
-- Parameters: :top (how many customers)
SELECT customer_key,
       customer_id,
       txn_count,
       total_spend,
       avg_spend,
       top_category,
       rfm_segment,
       fraud_count
FROM gold.customer_summary
WHERE txn_count > 0
ORDER BY total_spend DESC, customer_key
LIMIT :top
