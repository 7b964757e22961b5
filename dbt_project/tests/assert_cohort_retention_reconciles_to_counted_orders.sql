-- Every counted order belongs to exactly one cohort buyer, so retention summed per brand must
-- give back the brand's counted orders and GMV; month 0 holds every cohort buyer.
{{ config(meta={'dagster': {'ref': {'name': 'fct_cohort_retention_monthly'}}}) }}
with

retention as (

    select brand, sum(orders) as orders, sum(gmv) as gmv
    from {{ ref('fct_cohort_retention_monthly') }}
    group by brand

),

counted as (

    select brand, count(*) as orders, sum(gmv) as gmv
    from {{ ref('int_orders_counted') }}
    group by brand

),

month_zero as (

    select retention_rows.brand, retention_rows.cohort_month, retention_rows.active_buyers, cohorts.cohort_buyers
    from {{ ref('fct_cohort_retention_monthly') }} as retention_rows
    inner join (
        select brand, cohort_month, sum(cohort_buyers) as cohort_buyers
        from {{ ref('fct_cohort_repurchase') }}
        group by brand, cohort_month
    ) as cohorts
        on retention_rows.brand = cohorts.brand
        and retention_rows.cohort_month = cohorts.cohort_month
    where retention_rows.months_since_first = 0

)

select
    coalesce(retention.brand, counted.brand) as brand,
    'orders/gmv' as failed_check
from retention
full outer join counted
    on retention.brand = counted.brand
where retention.orders is null
   or counted.orders is null
   or retention.orders <> counted.orders
   or retention.gmv <> counted.gmv

union all

select brand, 'month 0 active buyers' as failed_check
from month_zero
where active_buyers <> cohort_buyers
