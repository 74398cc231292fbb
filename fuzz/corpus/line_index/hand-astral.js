const s = "😀é€";
bus.on("😀", f);
