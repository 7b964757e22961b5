-- grain: order_id (counted orders only: not cancelled and paid)
with

orders as (

    select * from {{ ref('stg_orders') }}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

traffic_sources as (

    select * from {{ ref('traffic_sources') }}

),

counted as (

    select * from orders
    -- A refunded order still counts: its refund is reported on the paid date.
    where status <> 'cancelled'
      and paid_at is not null

),

enriched as (

    select
        counted.order_id,
        counted.buyer_id,
        counted.account_id,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        coalesce(accounts.role, {{ dw_unmapped() }}) as role,
        counted.live_session_id,
        counted.traffic_source,
        -- A source missing from the seed falls back to the contract's default mapping.
        coalesce(
            traffic_sources.domain,
            case when counted.traffic_source = 'follow' then 'private' else 'public' end
        ) as domain,
        coalesce(traffic_sources.is_paid, counted.traffic_source = 'paid') as is_paid,
        counted.product_id,
        counted.category,
        counted.quantity,
        counted.status,
        counted.gmv,
        counted.refund_amount,
        {{ dw_money('counted.gmv - counted.refund_amount') }} as net_gmv,
        counted.paid_at,
        cast(counted.paid_at as date) as order_date,
        cast({{ dbt.date_trunc('month', 'counted.paid_at') }} as date) as order_month

    from counted

    left join accounts
        on counted.account_id = accounts.account_id

    left join traffic_sources
        on counted.traffic_source = traffic_sources.traffic_source

)

select * from enriched
