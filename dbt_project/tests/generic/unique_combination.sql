{#
  Composite-key uniqueness (the grain of a mart), written here because no packages
  (dbt_utils) can be installed. Fails with one row per duplicated key.
#}
{% test unique_combination(model, combination_of_columns) %}

with

keyed as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows

    from {{ model }}

    group by {{ combination_of_columns | join(', ') }}

)

select * from keyed
where n_rows > 1

{% endtest %}
