-- How did GMV split between the follow page (private, 私域) and public traffic on each day,
-- and how much of public was paid promotion? e.g. the 616 sale: ~55% discovery / 45% follow.
select order_date,
       brand,
       sum(gmv)                                        as gmv,
       sum(gmv_private) / nullif(sum(gmv), 0)          as private_share,
       sum(gmv_public_paid) / nullif(sum(gmv), 0)      as paid_share,
       sum(gmv_public_organic) / nullif(sum(gmv), 0)   as public_organic_share
from marts.fct_dual_wheel_daily
where order_date between date '2026-06-14' and date '2026-06-18'
group by order_date, brand
order by order_date, brand;
