-- grain: order_id — every counted order, tagged with its buyer's brand-level T0
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }}

),

first_orders as (

    select * from {{ ref('int_buyer_first_orders') }}

),

tagged as (

    select
        counted_orders.order_id,
        counted_orders.brand,
        counted_orders.buyer_id,
        counted_orders.account_id,
        counted_orders.traffic_source,
        counted_orders.domain,
        counted_orders.gmv,
        counted_orders.paid_at,
        counted_orders.order_date,
        counted_orders.order_month,
        first_orders.t0_order_id,
        first_orders.t0_paid_at,
        first_orders.cohort_month,
        first_orders.first_domain,
        counted_orders.order_id = first_orders.t0_order_id as is_t0_order,
        cast(
            {{ dbt.datediff('first_orders.cohort_month', 'counted_orders.order_month', 'month') }}
            as {{ dbt.type_bigint() }}
        ) as months_since_first

    from counted_orders

    -- Inner join loses nothing: every counted order's (brand, buyer) has a T0.
    inner join first_orders
        on counted_orders.brand = first_orders.brand
        and counted_orders.buyer_id = first_orders.buyer_id

)

select * from tagged
