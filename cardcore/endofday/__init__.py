# Strategy: the end-of-day side of the terminal (manual «Отчет», «Сверка
# итогов», «Очистка журнала», «Проверка связи с сервером авторизации»,
# «Загрузка рабочих ключей»): counting rules (totals), the X-report writer
# (report), the durable settlement state machine (states), `clear` (clear),
# what their answers are made of (answers) and the services the ECR commands
# call (service). See the README section "End of day".
