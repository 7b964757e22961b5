-- grain: order_date — dates whose order-based daily mart rows must be recomputed
{#
  - the paid date of every raw version of a changed order: the old version's date loses the
    order (a cancellation, a moved paid_at), the new one gains it;
  - the old and the new T0 date of every (brand, buyer) whose T0 moved: new_buyers changes
    there although those orders did not (a late earlier order demotes the old T0, a cancelled
    T0 promotes the buyer's next order).
  Empty on a full scope.
#}
with

order_versions as (

    select paid_date as order_date
    from {{ ref('int_changed_order_versions') }}
    where paid_date is not null

),

t0_changes as (

    select old_t0_order_date as order_date
    from {{ ref('int_t0_changes') }}
    where old_t0_order_date is not null

    union

    select new_t0_order_date as order_date
    from {{ ref('int_t0_changes') }}
    where new_t0_order_date is not null

),

affected as (

    select order_date from order_versions
    union
    select order_date from t0_changes

)

select order_date from affected
