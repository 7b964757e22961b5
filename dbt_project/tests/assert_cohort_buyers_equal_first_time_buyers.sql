-- Cohort sizes summed per brand equal the distinct (brand, buyer) pairs with a counted order:
-- every first-time buyer is in exactly one cohort.
{{ config(meta={'dagster': {'ref': {'name': 'fct_cohort_repurchase'}}}) }}
with

cohorts as (

    select brand, sum(cohort_buyers) as cohort_buyers
    from {{ ref('fct_cohort_repurchase') }}
    group by brand

),

first_time_buyers as (

    select brand, count(distinct buyer_id) as buyers
    from {{ ref('int_orders_counted') }}
    group by brand

)

select
    coalesce(cohorts.brand, first_time_buyers.brand) as brand,
    cohorts.cohort_buyers,
    first_time_buyers.buyers
from cohorts
full outer join first_time_buyers
    on cohorts.brand = first_time_buyers.brand
where cohorts.cohort_buyers is null
   or first_time_buyers.buyers is null
   or cohorts.cohort_buyers <> first_time_buyers.buyers
