-- grain: activity_date — dates whose fct_account_matrix_daily rows must be recomputed
{#
  Affected order dates, plus the start date of every raw row of a session in a changed
  live_traffic file (the session's header comes from its latest row, so its old start date is
  among its rows), plus the date of every raw copy of an event in a changed follows file
  (int_changed_follow_versions: the first copy wins, and a new copy may sort first). Empty on a
  full scope.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
with

changed_files as (

    select * from {{ ref('int_changed_files') }}

),


changed_sessions as (

    select distinct live_session_id
    from {{ source('raw', 'live_traffic') }}
    where _landing_date in (select landing_date from changed_files where export = 'live_traffic')
      and _source_file in (select source_file from changed_files where export = 'live_traffic')

),

affected as (

    select order_date as activity_date
    from {{ ref('int_affected_order_dates') }}

    union

    select cast(started_at as date) as activity_date
    -- raw.live_traffic named twice, not via a CTE: DuckDB would materialize a shared CTE.
    from {{ source('raw', 'live_traffic') }}
    where live_session_id in (select live_session_id from changed_sessions)

    union

    select occurred_date as activity_date
    from {{ ref('int_changed_follow_versions') }}

)

select activity_date from affected
{% if dw_scope_is_full() %}
where 1 = 0
{% endif %}
