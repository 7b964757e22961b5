-- grain: order_id — every counted order, tagged with its buyer's brand-level T0
{#
  Incremental by order_id: a row changes when its order changed or its buyer's T0 moved
  (int_t0_changes), so a partial run deletes and re-tags the changed orders and every order of
  those buyers. The 1M full build spent 3.0 s here (the largest model), a nightly run 0.3 s.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ dw_delete_affected('order_id', ref('int_changed_order_versions')) }}",
        "{{ dw_delete_affected(['brand', 'buyer_id'], ref('int_t0_changes')) }}",
    ]
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_changed_order_versions') }}
-- depends_on: {{ ref('int_t0_changes') }}
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }} as counted
    {% if dw_is_partial_refresh() %}
    where counted.order_id in (select order_id from {{ ref('int_changed_order_versions') }})
       or exists (
            select 1 from {{ ref('int_t0_changes') }} as t0_changes
            where t0_changes.brand = counted.brand
              and t0_changes.buyer_id = counted.buyer_id
        )
    {% endif %}

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
