"""Server for the TCP Echo lab: it sends back the line a client sends.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader server server.py --exercise echo
Run it for your partner with:                      python server.py
"""
import socket

# Step 1: Create a server socket and bind it to an unreserved port (any port from 1024 to
#         65535, e.g. 12345). Bind to the host "" to accept connections on every network.
#         Hint: s = socket.socket()   then   s.bind(("", port))


# Step 2: Prepare the server socket to listen for connection requests: s.listen(...)


# Step 3: Print "Waiting for connection..." to the console.


# Step 4: Accept an incoming connection request. accept() waits for a client and returns a
#         new, connected socket and the address of the client:  conn, address = s.accept()


# Step 5: Print "Connection request accepted!" to the console.


# Step 6: Receive the client's line on the connected socket: data = conn.recv(1024)
#         It is bytes; you do not need to decode it to send it back.


# Step 7: Send the very same bytes back to the client: conn.sendall(data)
#         (Not a text of your own: the grader's client sends a different line each time.)


# Step 8: Print "Line sent back!" to the console.


# Step 9: Close the connected socket (and the server socket).
