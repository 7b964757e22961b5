-- grain: (brand, buyer_id) — each buyer's first counted order (T0) within a brand
{#
  Incremental by (brand, buyer_id): a T0 can only move for a buyer with a changed order, so a
  partial run re-ranks only those buyers' counted orders (deleting buyers left with none).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected(['brand', 'buyer_id'], ref('int_changed_order_versions')) }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_changed_order_versions') }}
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }} as counted
    {% if dw_is_partial_refresh() %}
    where exists (
        select 1 from {{ ref('int_changed_order_versions') }} as versions
        where versions.brand = counted.brand
          and versions.buyer_id = counted.buyer_id
    )
    {% endif %}

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
