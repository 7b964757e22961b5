-- grain: (brand, buyer_id) — each buyer's first counted order (T0) within a brand
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }}

),

ranked as (

    select
        *,
        -- All accounts of a brand share one T0; all unmapped accounts form one brand.
        row_number() over (
            partition by brand, buyer_id
            order by paid_at, order_id
        ) as order_rank

    from counted_orders

),

first_orders as (

    select
        brand,
        buyer_id,
        order_id as t0_order_id,
        account_id as t0_account_id,
        paid_at as t0_paid_at,
        order_date as t0_order_date,
        order_month as cohort_month,
        domain as first_domain,
        gmv as t0_gmv

    from ranked

    where order_rank = 1

)

select * from first_orders
