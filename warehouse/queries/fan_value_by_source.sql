-- Which traffic brings fans that buy again (粉丝价值)? Follow months with a closed 30-day window
-- only (an open window understates the latest months); ratios recomputed from sums.
select brand, acquisition_source,
       sum(new_fans)                                            as new_fans,
       sum(fans_bought_before)::double / sum(new_fans)          as bought_before_share,
       sum(fans_buying_30d)::double / sum(new_fans)             as purchase_rate_30d,
       sum(fan_gmv_30d) / sum(new_fans)                         as gmv_per_fan_30d,
       sum(unfollowed_30d)::double / sum(new_fans)              as unfollow_rate_30d,
       sum(fan_gmv_30d_private) / nullif(sum(fan_gmv_30d), 0)   as follow_page_share_30d
from marts.fct_fan_cohort
where window_30d_complete
group by brand, acquisition_source
order by brand, new_fans desc;

-- Natural-traffic share (自然流量占比) per account and week beside paid follows (付费涨粉):
-- select account_id, date_trunc('week', activity_date) as week,
--        1 - sum(viewers_paid)::double / nullif(sum(viewers), 0) as organic_viewer_share,
--        sum(new_follows_paid) as new_follows_paid
-- from marts.fct_account_matrix_daily group by all order by account_id, week;
