# The io tests write files from plans that plan::Recipe resolves (io itself never links plan).
if(TARGET io_tests)
  target_link_libraries(io_tests PRIVATE bitsmith_plan)
endif()
