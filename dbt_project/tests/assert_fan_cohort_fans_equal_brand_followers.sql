-- New fans summed per brand equal the (brand, user) pairs with a `follow` event on any account
-- of the brand (int_brand_first_follows, computed separately with min(occurred_at)): every
-- follower is a fan in exactly one (follow_month, acquisition_source) group, and no fan start
-- lands in another brand.
{{ config(meta={'dagster': {'ref': {'name': 'fct_fan_cohort'}}}) }}
with

fans as (

    select brand, sum(new_fans) as new_fans
    from {{ ref('fct_fan_cohort') }}
    group by brand

),

followers as (

    select brand, count(*) as followers
    from {{ ref('int_brand_first_follows') }}
    group by brand

)

select
    coalesce(fans.brand, followers.brand) as brand,
    fans.new_fans,
    followers.followers
from fans
full outer join followers
    on fans.brand = followers.brand
where fans.new_fans is null
   or followers.followers is null
   or fans.new_fans <> followers.followers
