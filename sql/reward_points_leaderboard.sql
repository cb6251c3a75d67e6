-- Reward points leaderboard, with the rank among all customers.
SELECT rank() OVER (ORDER BY reward_points DESC) AS rank,
       customer_key,
       reward_points,
       total_spend,
       top_category
FROM gold.customer_summary
WHERE reward_points > 0
ORDER BY reward_points DESC, customer_key
LIMIT 20
