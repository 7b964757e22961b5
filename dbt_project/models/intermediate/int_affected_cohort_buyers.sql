-- grain: (brand, buyer_id) — buyers whose int_cohort_buyers row must be recomputed
{#
  A buyer's row in int_cohort_buyers reads only that buyer's counted orders (T0 and the 90 days
  after it) and the buyer's brand-level first follow, so it can change only for a (brand, buyer)
  with a changed order version (a T0 move always comes with one) or a changed follow event.
  Empty on a full scope.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
with

order_buyers as (

    select brand, buyer_id
    from {{ ref('int_changed_order_versions') }}

),

follow_users as (

    select brand, user_id as buyer_id
    from {{ ref('int_changed_follow_versions') }}

),

affected as (

    select brand, buyer_id from order_buyers
    union
    select brand, buyer_id from follow_users

)

select brand, buyer_id from affected
