-- Account-matrix GMV per (activity_date, account_id) equals the counted orders' GMV on that
-- order_date; days with live or follow activity only must show 0.
{{ config(meta={'dagster': {'ref': {'name': 'fct_account_matrix_daily'}}}) }}
with

mart as (

    select activity_date, account_id, gmv, orders
    from {{ ref('fct_account_matrix_daily') }}

),

counted as (

    select order_date, account_id, sum(gmv) as gmv, count(*) as orders
    from {{ ref('int_orders_counted') }}
    group by order_date, account_id

)

select
    mart.activity_date,
    mart.account_id,
    mart.gmv as mart_gmv,
    counted.gmv as counted_gmv
from mart
full outer join counted
    on mart.activity_date = counted.order_date
    and mart.account_id = counted.account_id
where mart.gmv is null
   or mart.gmv <> coalesce(counted.gmv, 0)
   or mart.orders <> coalesce(counted.orders, 0)
