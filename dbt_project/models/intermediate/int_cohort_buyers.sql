-- grain: (brand, buyer_id) — every buyer with a T0: cohort, T0 GMV, fan by T30, repurchase windows
{#
  The per-buyer half of fct_cohort_repurchase, kept so that a nightly run recomputes only the
  buyers a new day touched (int_affected_cohort_buyers) and the mart only sums ~one row per
  buyer. Rebuilding the mart from the counted orders every night took 4.4 s of a 10M-order
  nightly run (the longest node on its critical path, benchmarks/results.md); every cohort has
  a repurchasing buyer on most days, so incremental by cohort would have saved nothing.

  The T0 facts come from int_buyer_first_orders and the later orders from int_orders_counted,
  joined here. They used to be joined once into int_cohort_orders (every counted order tagged
  with its T0) that this model and fct_cohort_retention_monthly read: at 10M orders writing
  those 9.7M rows cost more CPU than the two joins that replace it (20 -> 11 s for this model,
  the retention mart and int_cohort_orders together), and its unique test went with it.

  In a full build int_buyer_first_orders is named in each subquery, not through one shared
  CTE: DuckDB materializes a CTE used more than once, i.e. copies every buyer's T0 first.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected(['brand', 'buyer_id'], ref('int_affected_cohort_buyers')) }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_cohort_buyers') }}
{%- set partial = dw_is_partial_refresh() %}
{#- A partial run reads the affected buyers' T0 rows once into a small CTE and uses it twice. -#}
{%- set first_orders = 'affected_first_orders' if partial else ref('int_buyer_first_orders') %}
with

{% if partial %}
affected_first_orders as (

    select * from {{ ref('int_buyer_first_orders') }} as first_orders
    where {{ dw_is_affected_cohort_buyer('first_orders') }}

),

{% endif %}
counted_orders as (

    select * from {{ ref('int_orders_counted') }} as counted
    {% if partial %}
    where {{ dw_is_affected_cohort_buyer('counted') }}
    {% endif %}

),

first_follows as (

    select * from {{ ref('int_brand_first_follows') }} as first_follows
    {% if partial %}
    where {{ dw_is_affected_cohort_buyer('first_follows', 'user_id') }}
    {% endif %}

),

later_orders as (

    -- `T0 + N days` is N x 24 hours after T0's paid_at, inclusive; an order at exactly T0's
    -- paid_at (a tie lost on order_id) is not "after" T0 and never a repurchase.
    select
        counted_orders.brand,
        counted_orders.buyer_id,
        counted_orders.domain,
        counted_orders.gmv,
        counted_orders.paid_at,
        first_orders.t0_paid_at

    from counted_orders

    -- Inner join loses nothing: every counted order's (brand, buyer) has a T0.
    inner join {{ first_orders }} as first_orders
        on counted_orders.brand = first_orders.brand
        and counted_orders.buyer_id = first_orders.buyer_id

    where counted_orders.paid_at > first_orders.t0_paid_at
      and counted_orders.paid_at <= {{ dbt.dateadd('day', 90, 'first_orders.t0_paid_at') }}

),

repurchases as (

    select
        brand,
        buyer_id,
        max(case when paid_at <= {{ dbt.dateadd('day', 30, 't0_paid_at') }} then 1 else 0 end)
            as repurchased_30d,
        max(case when paid_at <= {{ dbt.dateadd('day', 60, 't0_paid_at') }} then 1 else 0 end)
            as repurchased_60d,
        max(1) as repurchased_90d,
        sum(case when paid_at <= {{ dbt.dateadd('day', 30, 't0_paid_at') }} then 1 else 0 end)
            as repurchase_orders_30d,
        sum(case when paid_at <= {{ dbt.dateadd('day', 30, 't0_paid_at') }} then gmv else 0 end)
            as repurchase_gmv_30d,
        sum(
            case when paid_at <= {{ dbt.dateadd('day', 30, 't0_paid_at') }} and domain = 'private'
                then gmv else 0 end
        ) as repurchase_gmv_30d_private

    from later_orders

    group by
        brand,
        buyer_id

),

buyers as (

    select
        first_orders.brand,
        first_orders.buyer_id,
        first_orders.cohort_month,
        first_orders.first_domain,
        first_orders.t0_gmv,
        -- No lower bound: a follow before T0 makes a fan too.
        cast(
            case
                when first_follows.first_followed_at
                    <= {{ dbt.dateadd('day', 30, 'first_orders.t0_paid_at') }}
                    then 1 else 0
            end as {{ dbt.type_bigint() }}
        ) as is_fan_by_t30,
        cast(coalesce(repurchases.repurchased_30d, 0) as {{ dbt.type_bigint() }}) as repurchased_30d,
        cast(coalesce(repurchases.repurchased_60d, 0) as {{ dbt.type_bigint() }}) as repurchased_60d,
        cast(coalesce(repurchases.repurchased_90d, 0) as {{ dbt.type_bigint() }}) as repurchased_90d,
        cast(coalesce(repurchases.repurchase_orders_30d, 0) as {{ dbt.type_bigint() }})
            as repurchase_orders_30d,
        {{ dw_money('coalesce(repurchases.repurchase_gmv_30d, 0)') }} as repurchase_gmv_30d,
        {{ dw_money('coalesce(repurchases.repurchase_gmv_30d_private, 0)') }}
            as repurchase_gmv_30d_private

    from {{ first_orders }} as first_orders

    left join first_follows
        on first_orders.brand = first_follows.brand
        and first_orders.buyer_id = first_follows.user_id

    left join repurchases
        on first_orders.brand = repurchases.brand
        and first_orders.buyer_id = repurchases.buyer_id

)

select * from buyers
