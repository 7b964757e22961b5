-- grain: (order_date, account_id, traffic_source)
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }}

),

daily as (

    select
        order_date,
        account_id,
        traffic_source,
        domain,
        is_paid,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        sum(gmv) as gmv,
        sum(refund_amount) as refund_amount,
        sum(net_gmv) as net_gmv

    from counted_orders

    -- domain and is_paid depend on traffic_source alone; grouped rather than any_value()
    -- so the SQL stays portable.
    group by
        order_date,
        account_id,
        traffic_source,
        domain,
        is_paid

)

select
    order_date,
    account_id,
    traffic_source,
    domain,
    is_paid,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(buyers as {{ dbt.type_bigint() }}) as buyers,
    {{ dw_money('gmv') }} as gmv,
    {{ dw_money('refund_amount') }} as refund_amount,
    {{ dw_money('net_gmv') }} as net_gmv
from daily
