-- grain: (brand, buyer_id) — every buyer with a T0: cohort, T0 GMV, fan by T30, repurchase windows
{#
  The per-buyer half of fct_cohort_repurchase, kept so that a nightly run recomputes only the
  buyers a new day touched (int_affected_cohort_buyers) and the mart only sums ~one row per
  buyer. Rebuilding the mart from int_cohort_orders every night took 4.4 s of a 10M-order
  nightly run (the longest node on its critical path, benchmarks/results.md); every cohort has
  a repurchasing buyer on most days, so incremental by cohort would have saved nothing.

  int_cohort_orders is named in each subquery, not through one shared CTE: DuckDB materializes
  a CTE used more than once, i.e. copies every counted order first.
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
{#- A full build reads int_cohort_orders twice by ref() (see above); a partial one reads the
    affected buyers' orders once into a small CTE and uses it twice. -#}
{%- set cohort_orders = 'affected_orders' if partial else ref('int_cohort_orders') %}
with

{% if partial %}
affected_orders as (

    select * from {{ ref('int_cohort_orders') }} as cohort_orders
    where exists (
        select 1 from {{ ref('int_affected_cohort_buyers') }} as affected
        where affected.brand = cohort_orders.brand
          and affected.buyer_id = cohort_orders.buyer_id
    )

),

{% endif %}
first_follows as (

    select * from {{ ref('int_brand_first_follows') }} as first_follows
    {% if partial %}
    where exists (
        select 1 from {{ ref('int_affected_cohort_buyers') }} as affected
        where affected.brand = first_follows.brand
          and affected.buyer_id = first_follows.user_id
    )
    {% endif %}

),

first_orders as (

    select * from {{ cohort_orders }} as cohort_orders
    where is_t0_order

),

repurchases as (

    -- `T0 + N days` is N x 24 hours after T0's paid_at, inclusive; an order at exactly T0's
    -- paid_at (a tie lost on order_id) is not "after" T0 and never a repurchase.
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

    from {{ cohort_orders }} as cohort_orders

    where paid_at > t0_paid_at
      and paid_at <= {{ dbt.dateadd('day', 90, 't0_paid_at') }}

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
        first_orders.gmv as t0_gmv,
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

    from first_orders

    left join first_follows
        on first_orders.brand = first_follows.brand
        and first_orders.buyer_id = first_follows.user_id

    left join repurchases
        on first_orders.brand = repurchases.brand
        and first_orders.buyer_id = repurchases.buyer_id

)

select * from buyers
