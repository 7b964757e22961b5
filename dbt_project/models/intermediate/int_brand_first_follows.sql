-- grain: (brand, user_id) — the earliest `follow` event of a user on any account of the brand
{#
  Incremental by (brand, user_id): only users with a changed event can move. A partial run
  re-deduplicates every event with a copy by those users (a copy may carry another user or
  account than the winner) and keeps the affected (brand, user) pairs.
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

first_follows as (

    -- Only the earliest follow matters: fans_by_t30 has no lower bound and a later unfollow
    -- does not cancel a follow, so unfollow events are deliberately ignored here.
    select
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        follows.user_id,
        min(follows.occurred_at) as first_followed_at

    from follows

    left join accounts
        on follows.account_id = accounts.account_id

    where follows.action = 'follow'

    group by
        coalesce(accounts.brand, {{ dw_unmapped() }}),
        follows.user_id

)

select * from first_follows
{% if partial %}
where exists (
    select 1 from {{ ref('int_changed_follow_versions') }} as versions
    where versions.brand = first_follows.brand
      and versions.user_id = first_follows.user_id
)
{% endif %}
