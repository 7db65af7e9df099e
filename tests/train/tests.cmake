# train_tests reads stories260K through io (tests only: the train library never links io).
if(TARGET train_tests)
  target_link_libraries(train_tests PRIVATE bitsmith_io)
endif()
