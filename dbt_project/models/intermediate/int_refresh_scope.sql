-- grain: one row — does this run recompute only the affected keys, or everything, and why
{#
  Full scope (every incremental model treats ALL keys as affected) when:
  - `--full-refresh` or var('full_refresh_all'): asked for;
  - no watermark: nothing is known about what the marts were built from;
  - the models/seed changed (code_checksum): every row may be computed differently;
  - a changed file was 'replaced': its old rows are gone from raw.*, so the dates and keys they
    fed can no longer be found;
  - the roster changed: brand/role/name re-label history (T0 is per brand).
#}
{{ config(post_hook="{{ dw_remember_refresh_scope() }}") }}
{%- set requested = flags.FULL_REFRESH or dw_engine_rebuilds_in_full() or var('full_refresh_all', false) -%}
with

changed_files as (

    select * from {{ ref('int_changed_files') }}

),

watermark as (

    select
        max(built_at) as built_at,
        -- code_checksum of the latest watermark row (checksums only change with built_at).
        max(case when built_at = (select max(built_at) from {{ source('dw_state', 'dbt_watermark') }})
            then code_checksum end) as code_checksum

    from {{ source('dw_state', 'dbt_watermark') }}

),

changes as (

    select
        count(*) as changed_files,
        coalesce(sum(case when status = 'replaced' then 1 else 0 end), 0) as replaced_files,
        coalesce(sum(case when export = 'accounts' then 1 else 0 end), 0) as roster_files

    from changed_files

),

scope as (

    select
        watermark.built_at as watermark_built_at,
        cast(changes.changed_files as {{ dbt.type_bigint() }}) as changed_files,
        cast(changes.replaced_files as {{ dbt.type_bigint() }}) as replaced_files,
        cast(changes.roster_files as {{ dbt.type_bigint() }}) as roster_files,
        case
            when {{ 'true' if requested else 'false' }} then 'requested'
            when watermark.built_at is null then 'no watermark'
            when coalesce(watermark.code_checksum, '') <> '{{ dw_code_checksum() if execute else "" }}'
                then 'models or seed changed'
            when changes.replaced_files > 0 then 'replaced file'
            when changes.roster_files > 0 then 'roster changed'
        end as full_refresh_reason

    from watermark

    cross join changes

)

select
    watermark_built_at,
    changed_files,
    replaced_files,
    roster_files,
    full_refresh_reason,
    full_refresh_reason is not null as is_full_refresh
from scope
