-- Every counted order lands in exactly one (order_date, account_id, traffic_source) row:
-- GMV, refunds and order counts per date and account must match the counted orders.
{{ config(meta={'dagster': {'ref': {'name': 'fct_gmv_by_source_daily'}}}) }}
with

mart as (

    select order_date, account_id, sum(gmv) as gmv, sum(refund_amount) as refund_amount, sum(orders) as orders
    from {{ ref('fct_gmv_by_source_daily') }}
    group by order_date, account_id

),

counted as (

    select order_date, account_id, sum(gmv) as gmv, sum(refund_amount) as refund_amount, count(*) as orders
    from {{ ref('int_orders_counted') }}
    group by order_date, account_id

)

select
    coalesce(mart.order_date, counted.order_date) as order_date,
    coalesce(mart.account_id, counted.account_id) as account_id,
    mart.gmv as mart_gmv,
    counted.gmv as counted_gmv
from mart
full outer join counted
    on mart.order_date = counted.order_date
    and mart.account_id = counted.account_id
where mart.gmv is null
   or counted.gmv is null
   or mart.gmv <> counted.gmv
   or mart.refund_amount <> counted.refund_amount
   or mart.orders <> counted.orders
