{#
  Closed-interval range check; defaults to [0, 1] for shares and rates. NULL passes because a
  ratio with a zero denominator is NULL by contract.
#}
{% test within_range(model, column_name, min_value=0, max_value=1) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }}
   or {{ column_name }} > {{ max_value }}

{% endtest %}
