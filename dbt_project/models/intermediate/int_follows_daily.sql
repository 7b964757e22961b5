-- grain: (activity_date, account_id) — follow and unfollow counts per account and local date
{#
  Incremental by activity_date (int_affected_activity_dates, which holds every date of every
  copy of a changed event). A partial run recomputes those dates from the events with a copy
  dated there, deduplicated over all their copies: an event's winning copy is one of its copies.
#}
{# on_schema_change: contract v2 appended new_follows_paid; a warehouse built before gets
   the column(s) added (the changed code makes that run full-scope, so every row is rewritten)
   instead of failing the run. #}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ dw_delete_affected('activity_date', ref('int_affected_activity_dates')) }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_activity_dates') }}
-- depends_on: {{ source('raw', 'follows') }}
{%- set partial = dw_is_partial_refresh() %}
with

follows as (

    {% if partial %}
    {{ dw_follows_with_a_copy_where("cast(occurred_at as date) in (select activity_date from " ~ ref('int_affected_activity_dates') ~ ")") }}
    where cast(occurred_at as date) in (select activity_date from {{ ref('int_affected_activity_dates') }})
    {% else %}
    select * from {{ ref('stg_follows') }}
    {% endif %}

),

daily as (

    select
        cast(occurred_at as date) as activity_date,
        account_id,
        sum(case when action = 'follow' then 1 else 0 end) as new_follows,
        sum(case when action = 'unfollow' then 1 else 0 end) as unfollows,
        -- 付费涨粉 (contract §6): follows, not unfollows, whose traffic_source is paid.
        sum(case when action = 'follow' and traffic_source = 'paid' then 1 else 0 end)
            as new_follows_paid

    from follows

    group by
        cast(occurred_at as date),
        account_id

)

select
    activity_date,
    account_id,
    cast(new_follows as {{ dbt.type_bigint() }}) as new_follows,
    cast(unfollows as {{ dbt.type_bigint() }}) as unfollows,
    cast(new_follows_paid as {{ dbt.type_bigint() }}) as new_follows_paid
from daily
