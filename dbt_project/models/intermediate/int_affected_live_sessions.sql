-- grain: live_session_id — sessions whose fct_live_session row must be recomputed
{#
  Sessions in a changed live_traffic file, plus the sessions named by any raw version of a
  changed order (an order moving between sessions, or no longer counted, changes both).
  Empty on a full scope.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
with

changed_files as (

    select * from {{ ref('int_changed_files') }}
    where export = 'live_traffic'

),

affected as (

    select live_session_id
    from {{ source('raw', 'live_traffic') }}
    where _landing_date in (select landing_date from changed_files)
      and _source_file in (select source_file from changed_files)

    union

    select live_session_id
    from {{ ref('int_changed_order_versions') }}
    where live_session_id is not null

)

select live_session_id from affected
{% if dw_scope_is_full() %}
where 1 = 0
{% endif %}
