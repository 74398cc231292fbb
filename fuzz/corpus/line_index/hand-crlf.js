const a = 1;
bus.on("data", () => {
  x();
});
