-- Which matrix accounts carry the brand? Ratios are recomputed from sums, never averaged.
select account_id, any_value(account_name) as account_name, any_value(brand) as brand, any_value(role) as role,
       sum(gmv)                                   as gmv,
       sum(gmv) * 1000 / nullif(sum(viewers), 0)  as gpm,
       sum(gmv) / nullif(sum(viewers), 0)         as uv_value,
       sum(gmv) / nullif(sum(orders), 0)          as aov,
       sum(refund_amount) / nullif(sum(gmv), 0)   as refund_rate,
       sum(gmv_private) / nullif(sum(gmv), 0)     as private_share,
       sum(net_follows)                           as net_follows
from marts.fct_account_matrix_daily
group by account_id
order by gmv desc;
