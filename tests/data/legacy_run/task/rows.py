"""Rows of the run folder kept as test data: six questions about small images."""


def rows():
    colours = ["red", "green", "blue", "grey"]
    return [
        {
            "id": f"q{i}",
            "image": f"images/{i}.png",
            "question": f"Which colour is square {i}?",
            "options": colours,
            "answer": "ABCD"[i % 4],
            "category": ["gaming", "ui"][i % 2],
            "mrr": ["1K", "2K", "4K"][i % 3],
        }
        for i in range(6)
    ]
