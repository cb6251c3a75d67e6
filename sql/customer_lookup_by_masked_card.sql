-- Which customer holds a card, by the last four digits (card numbers are never stored).
-- Parameters: :last4
WITH cards AS (
    SELECT DISTINCT card_token, card_masked
    FROM silver.transactions
    WHERE substr(card_masked, -4) = :last4
)
SELECT c.card_masked,
       s.customer_key,
       s.customer_id,
       s.state,
       s.txn_count,
       s.total_spend
FROM cards AS c
JOIN gold.customer_summary AS s
  ON s.customer_key = coalesce(
       (SELECT max(h.customer_id) FROM silver.customers_history AS h
        WHERE h.card_token = c.card_token),
       concat('card:', c.card_token))
ORDER BY s.total_spend DESC
