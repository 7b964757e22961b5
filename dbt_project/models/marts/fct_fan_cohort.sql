-- grain: (brand, follow_month, acquisition_source)
{#
  Sums int_fan_values (one row per fan, recomputed only for the fans a run touched), so this
  mart stays a cheap full rebuild like fct_cohort_repurchase: every follow month's 30/90-day
  figures can change with any new order, so incremental by month would save nothing.
#}
with

fan_values as (

    select * from {{ ref('int_fan_values') }}

),

horizon as (

    -- The global horizon of fct_cohort_repurchase (latest order_date of all brands).
    select max(order_date) as horizon_date
    from {{ ref('int_orders_counted') }} as counted_orders

),

cohorts as (

    select
        brand,
        follow_month,
        acquisition_source,
        count(*) as new_fans,
        sum(bought_before) as fans_bought_before,
        sum(bought_30d) as fans_buying_30d,
        sum(orders_30d) as fan_orders_30d,
        sum(gmv_30d) as fan_gmv_30d,
        sum(gmv_30d_private) as fan_gmv_30d_private,
        sum(gmv_90d) as fan_gmv_90d,
        sum(unfollowed_30d) as unfollowed_30d

    from fan_values

    group by
        brand,
        follow_month,
        acquisition_source

)

select
    cohorts.brand,
    cohorts.follow_month,
    cohorts.acquisition_source,
    cast(cohorts.new_fans as {{ dbt.type_bigint() }}) as new_fans,
    cast(cohorts.fans_bought_before as {{ dbt.type_bigint() }}) as fans_bought_before,
    cast(cohorts.fans_buying_30d as {{ dbt.type_bigint() }}) as fans_buying_30d,
    cast(cohorts.fan_orders_30d as {{ dbt.type_bigint() }}) as fan_orders_30d,
    {{ dw_money('cohorts.fan_gmv_30d') }} as fan_gmv_30d,
    {{ dw_money('cohorts.fan_gmv_30d_private') }} as fan_gmv_30d_private,
    {{ dw_money('cohorts.fan_gmv_90d') }} as fan_gmv_90d,
    cast(cohorts.unfollowed_30d as {{ dbt.type_bigint() }}) as unfollowed_30d,
    {{ dw_ratio('cohorts.fans_buying_30d', 'cohorts.new_fans') }} as purchase_rate_30d,
    {{ dw_ratio('cohorts.unfollowed_30d', 'cohorts.new_fans') }} as unfollow_rate_30d,
    {{ dw_ratio('cohorts.fan_gmv_30d', 'cohorts.new_fans') }} as gmv_per_fan_30d,
    {{ dw_ratio('cohorts.fan_gmv_30d_private', 'cohorts.fan_gmv_30d') }} as private_share_30d,
    -- Complete once the whole follow month plus N days lies inside the data; with no counted
    -- order at all (fans but no sales yet) nothing is complete.
    coalesce(
        cast({{ dbt.dateadd('day', 30, dbt.last_day('cohorts.follow_month', 'month')) }} as date)
            <= horizon.horizon_date,
        false
    ) as window_30d_complete,
    coalesce(
        cast({{ dbt.dateadd('day', 90, dbt.last_day('cohorts.follow_month', 'month')) }} as date)
            <= horizon.horizon_date,
        false
    ) as window_90d_complete
from cohorts
cross join horizon
