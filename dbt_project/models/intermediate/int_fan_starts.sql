-- grain: (brand, user_id) — each user's fan start per brand (first `follow` on any account of the brand) and whether it was undone within 30 days
{#
  The fan start of fct_fan_cohort (contract §4/§6): the earliest `follow` event of the user on
  any account of the brand, ties on occurred_at going to the smallest event_id; a follow ->
  unfollow -> follow again keeps the first start. unfollowed_30d looks only at the account of
  the fan start (an unfollow of another account of the brand is not 取关 of this fan).

  Incremental by (brand, user_id), exactly like int_brand_first_follows: only users with a
  changed event can move, so a partial run re-deduplicates every event with a copy by those
  users (a copy may carry another user or account than the winner) and keeps the affected
  pairs. Reads only follows: an order never changes a fan start.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected(['brand', 'user_id'], ref('int_changed_follow_versions')) }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_changed_follow_versions') }}
-- depends_on: {{ source('raw', 'follows') }}
{%- set partial = dw_is_partial_refresh() %}
with

follows as (

    {% if partial %}
    {{ dw_follows_with_a_copy_where("user_id in (select user_id from " ~ ref('int_changed_follow_versions') ~ ")") }}
    {% else %}
    select * from {{ ref('stg_follows') }}
    {% endif %}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

ranked as (

    select
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        follows.user_id,
        follows.event_id,
        follows.account_id,
        follows.traffic_source,
        follows.occurred_at,
        row_number() over (
            partition by coalesce(accounts.brand, {{ dw_unmapped() }}), follows.user_id
            order by follows.occurred_at, follows.event_id
        ) as follow_rank

    from follows

    left join accounts
        on follows.account_id = accounts.account_id

    where follows.action = 'follow'

),

starts as (

    select
        brand,
        user_id,
        event_id as fan_start_event_id,
        account_id as fan_start_account_id,
        occurred_at as fan_started_at,
        cast(occurred_at as date) as fan_start_date,
        cast({{ dbt.date_trunc('month', 'occurred_at') }} as date) as follow_month,
        -- stg_follows already reads an empty source as 'other'.
        traffic_source as acquisition_source

    from ranked

    where follow_rank = 1

),

unfollowed as (

    -- `fan start + 30 days` is 30 x 24 hours after the start, inclusive; an unfollow at the
    -- very second of the start is not after it.
    select
        starts.brand,
        starts.user_id,
        max(1) as unfollowed_30d

    from starts

    inner join follows
        on follows.user_id = starts.user_id
        and follows.account_id = starts.fan_start_account_id

    where follows.action = 'unfollow'
      and follows.occurred_at > starts.fan_started_at
      and follows.occurred_at <= {{ dbt.dateadd('day', 30, 'starts.fan_started_at') }}

    group by
        starts.brand,
        starts.user_id

),

fans as (

    select
        starts.brand,
        starts.user_id,
        starts.fan_start_event_id,
        starts.fan_start_account_id,
        starts.fan_started_at,
        starts.fan_start_date,
        starts.follow_month,
        starts.acquisition_source,
        cast(coalesce(unfollowed.unfollowed_30d, 0) as {{ dbt.type_bigint() }}) as unfollowed_30d

    from starts

    left join unfollowed
        on starts.brand = unfollowed.brand
        and starts.user_id = unfollowed.user_id

)

select * from fans
{% if partial %}
where exists (
    select 1 from {{ ref('int_changed_follow_versions') }} as versions
    where versions.brand = fans.brand
      and versions.user_id = fans.user_id
)
{% endif %}
