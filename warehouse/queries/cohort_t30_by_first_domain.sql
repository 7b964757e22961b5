-- Do buyers first won on the discovery page repurchase as well as buyers won on the follow page?
-- Only cohorts whose 30-day window is complete give a fair T30 rate.
select brand, cohort_month, first_domain,
       cohort_buyers,
       fans_by_t30::double / nullif(cohort_buyers, 0)  as fan_conversion,
       repurchase_rate_30d,
       repurchase_rate_90d,
       repurchase_gmv_30d_private / nullif(repurchase_gmv_30d, 0) as repurchase_private_share
from marts.fct_cohort_repurchase
where window_30d_complete
order by brand, cohort_month, first_domain;
