-- grain: (brand, cohort_month, first_domain)
{#
  int_cohort_orders is read in three places by ref(), not through one shared CTE: DuckDB
  materializes a CTE used more than once, i.e. copies every counted order first (this model
  took 0.47 s instead of 0.21 s at 1M orders; it is a full rebuild every night).
#}
with

first_follows as (

    select * from {{ ref('int_brand_first_follows') }}

),

horizon as (

    -- Global on purpose: one brand's quiet month must not hide another brand's data.
    select max(order_date) as horizon_date
    from {{ ref('int_cohort_orders') }} as cohort_orders

),

first_orders as (

    select * from {{ ref('int_cohort_orders') }} as cohort_orders
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

    from {{ ref('int_cohort_orders') }} as cohort_orders

    where paid_at > t0_paid_at
      and paid_at <= {{ dbt.dateadd('day', 90, 't0_paid_at') }}

    group by
        brand,
        buyer_id

),

buyers as (

    select
        first_orders.brand,
        first_orders.cohort_month,
        first_orders.first_domain,
        first_orders.buyer_id,
        first_orders.gmv as t0_gmv,
        -- No lower bound: a follow before T0 makes a fan too.
        case
            when first_follows.first_followed_at <= {{ dbt.dateadd('day', 30, 'first_orders.t0_paid_at') }}
                then 1 else 0
        end as is_fan_by_t30,
        coalesce(repurchases.repurchased_30d, 0) as repurchased_30d,
        coalesce(repurchases.repurchased_60d, 0) as repurchased_60d,
        coalesce(repurchases.repurchased_90d, 0) as repurchased_90d,
        coalesce(repurchases.repurchase_orders_30d, 0) as repurchase_orders_30d,
        coalesce(repurchases.repurchase_gmv_30d, 0) as repurchase_gmv_30d,
        coalesce(repurchases.repurchase_gmv_30d_private, 0) as repurchase_gmv_30d_private

    from first_orders

    left join first_follows
        on first_orders.brand = first_follows.brand
        and first_orders.buyer_id = first_follows.user_id

    left join repurchases
        on first_orders.brand = repurchases.brand
        and first_orders.buyer_id = repurchases.buyer_id

),

cohorts as (

    select
        brand,
        cohort_month,
        first_domain,
        count(*) as cohort_buyers,
        sum(t0_gmv) as t0_gmv,
        sum(is_fan_by_t30) as fans_by_t30,
        sum(repurchased_30d) as repurchasers_30d,
        sum(repurchased_60d) as repurchasers_60d,
        sum(repurchased_90d) as repurchasers_90d,
        sum(repurchase_orders_30d) as repurchase_orders_30d,
        sum(repurchase_gmv_30d) as repurchase_gmv_30d,
        sum(repurchase_gmv_30d_private) as repurchase_gmv_30d_private

    from buyers

    group by
        brand,
        cohort_month,
        first_domain

)

select
    cohorts.brand,
    cohorts.cohort_month,
    cohorts.first_domain,
    cast(cohorts.cohort_buyers as {{ dbt.type_bigint() }}) as cohort_buyers,
    {{ dw_money('cohorts.t0_gmv') }} as t0_gmv,
    cast(cohorts.fans_by_t30 as {{ dbt.type_bigint() }}) as fans_by_t30,
    cast(cohorts.repurchasers_30d as {{ dbt.type_bigint() }}) as repurchasers_30d,
    cast(cohorts.repurchasers_60d as {{ dbt.type_bigint() }}) as repurchasers_60d,
    cast(cohorts.repurchasers_90d as {{ dbt.type_bigint() }}) as repurchasers_90d,
    cast(cohorts.repurchase_orders_30d as {{ dbt.type_bigint() }}) as repurchase_orders_30d,
    {{ dw_money('cohorts.repurchase_gmv_30d') }} as repurchase_gmv_30d,
    {{ dw_money('cohorts.repurchase_gmv_30d_private') }} as repurchase_gmv_30d_private,
    {{ dw_ratio('cohorts.repurchasers_30d', 'cohorts.cohort_buyers') }} as repurchase_rate_30d,
    {{ dw_ratio('cohorts.repurchasers_90d', 'cohorts.cohort_buyers') }} as repurchase_rate_90d,
    -- Complete once the whole cohort month plus 30 days lies inside the data.
    cast({{ dbt.dateadd('day', 30, dbt.last_day('cohorts.cohort_month', 'month')) }} as date)
        <= horizon.horizon_date as window_30d_complete
from cohorts
cross join horizon
