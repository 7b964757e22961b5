-- grain: (brand, cohort_month, months_since_first); sparse — only months with an order
with

cohort_orders as (

    select * from {{ ref('int_cohort_orders') }}

),

monthly as (

    select
        brand,
        cohort_month,
        months_since_first,
        count(distinct buyer_id) as active_buyers,
        count(*) as orders,
        sum(gmv) as gmv

    from cohort_orders

    group by
        brand,
        cohort_month,
        months_since_first

)

select
    brand,
    cohort_month,
    cast(months_since_first as {{ dbt.type_bigint() }}) as months_since_first,
    cast(active_buyers as {{ dbt.type_bigint() }}) as active_buyers,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    {{ dw_money('gmv') }} as gmv
from monthly
