-- grain: (brand, buyer_id) — buyers whose T0 differs from the last successful run's snapshot
{#
  A T0 can only move for a (brand, buyer) with a changed order (a late earlier order, a
  cancelled T0, a corrected paid_at): the roster and the code are constant on a partial run.
  So only those pairs are compared with intermediate.t0_snapshot, instead of diffing the whole
  table. Both the old and the new T0 date need new_buyers recomputed, and both cohorts their
  retention rows (fct_cohort_retention_monthly). Empty on a full scope.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
with

changed_pairs as (

    select distinct brand, buyer_id
    from {{ ref('int_changed_order_versions') }}

),

previous as (

    select snapshot.*
    from {{ source('dw_snapshot', 't0_snapshot') }} as snapshot
    inner join changed_pairs
        on snapshot.brand = changed_pairs.brand
        and snapshot.buyer_id = changed_pairs.buyer_id

),

current_t0 as (

    select first_orders.*
    from {{ ref('int_buyer_first_orders') }} as first_orders
    inner join changed_pairs
        on first_orders.brand = changed_pairs.brand
        and first_orders.buyer_id = changed_pairs.buyer_id

),

compared as (

    select
        coalesce(current_t0.brand, previous.brand) as brand,
        coalesce(current_t0.buyer_id, previous.buyer_id) as buyer_id,
        previous.t0_order_id as old_t0_order_id,
        previous.t0_paid_at as old_t0_paid_at,
        previous.t0_order_date as old_t0_order_date,
        previous.first_domain as old_first_domain,
        current_t0.t0_order_id as new_t0_order_id,
        current_t0.t0_paid_at as new_t0_paid_at,
        current_t0.t0_order_date as new_t0_order_date,
        current_t0.first_domain as new_first_domain

    from previous

    full outer join current_t0
        on previous.brand = current_t0.brand
        and previous.buyer_id = current_t0.buyer_id

)

select * from compared
where (
    old_t0_order_id is null
    or new_t0_order_id is null
    or old_t0_order_id <> new_t0_order_id
    -- Same T0 order with a corrected paid_at or source: a conservative superset (the T0's
    -- date, month or domain may have moved with it).
    or old_t0_paid_at <> new_t0_paid_at
    or old_first_domain <> new_first_domain
)
{% if dw_scope_is_full() %}
  and 1 = 0
{% endif %}
