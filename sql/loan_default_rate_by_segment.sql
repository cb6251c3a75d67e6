-- Loan default rate by product and borrower age band.
SELECT product,
       coalesce(age_band, 'unknown') AS age_band,
       count(*) AS loans,
       count_if(defaulted) AS defaulted,
       round(CAST(count_if(defaulted) AS double) / count(*), 4) AS default_rate,
       round(avg(credit_score), 1) AS avg_credit_score
FROM gold.loan_default_features
GROUP BY product, coalesce(age_band, 'unknown')
ORDER BY default_rate DESC, loans DESC, product, age_band
