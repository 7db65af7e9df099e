# eval_tests read real checkpoints through io (tests only: the eval library never links io).
if(TARGET eval_tests AND TARGET bitsmith_io)
  target_link_libraries(eval_tests PRIVATE bitsmith_io)
endif()
